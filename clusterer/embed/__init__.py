"""Text to vectors: the encoder interface and its backends (``encoders``), the
content-hash cache in front of them (``cache``), and the default e5 model
(``e5_convert`` converts the bundled weights once; ``windows`` holds the
tokenisation, windows and pooling its engines share; ``e5_torch`` with
``kernels``, ``onnx_engine`` and ``openvino_engine`` run it; ``select`` picks
one per CPU by measurement)."""
