"""Using a trained model: the predictor, the ONNX runner, the export wrapper, serving, attribution."""
