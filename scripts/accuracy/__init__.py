"""The implementations the accuracy survey (scripts/accuracy_survey.py) validates, by family.

* :mod:`.model`: :class:`~.model.Implementation` — a name, the framework adapter, one function
  per op, the formats it cannot run;
* :mod:`.formulas`: the textbook formulas of the derived ops on top of a softmax/log_softmax;
* :mod:`.frameworks`: NumPy (naive and max-shifted), SciPy, PyTorch and JAX (on a given device);
* :mod:`.onnx_runtime`: onnxruntime's Softmax, LogSoftmax and ReduceLogSumExp, one-node models;
* :mod:`.attention`: PyTorch's scaled_dot_product_attention as a softmax, one row per backend;
* :mod:`.gpu`: the GPU section (CUDA PyTorch, torch.compile, SDPA backends, Triton, JAX);
* :mod:`.triton_softmax`: the Triton tutorial's fused softmax kernel;
* :mod:`.findings`: direct reproductions of reported behaviour, checked against the reference.
"""
