// Package camera opens frame sources (V4L2 devices, video files, RTSP/HTTP streams and GStreamer
// pipelines), always hands out the newest frame, reconnects, and preprocesses frames into model
// inputs. It hides gocv from the rest of the agent.
package camera
