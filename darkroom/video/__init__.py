"""Videos with PyAV (FFmpeg inside its wheels): probing within limits, keyframes by shot."""
