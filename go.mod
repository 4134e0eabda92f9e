module github.com/edge-agent/edge-agent

go 1.26.8
