//go:build !matprofile

package camera

// matProfileBuild is true when gocv records every Mat it creates, which allocates.
const matProfileBuild = false
