"""Using a trained model: the serving model, new media, predictions, ONNX export.

Library code: no Kedro. The pipelines in ``fer_da.pipelines.inference`` wire it.
"""
