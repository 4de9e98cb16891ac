"""Training tool for the default detector: random scenes -> rendered dataset -> PyTorch -> ONNX."""
