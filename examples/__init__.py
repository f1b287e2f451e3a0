"""Three MaxPool layers in the textbook shapes, each with its few lines of verification.

- `loop_layer`: plain loops over ``(C, H, W)``, per-window ``(row, column)``
  offsets, ``backward(output_gradient, learning_rate)``;
- `im2col_layer`: im2col over ``(N, C, H, W)``, built from ``(C, H, W)``, a
  kernel ``(kh, kw)`` and one stride; windows must end at the border;
- `strided_layer`: NumPy stride tricks, square kernel, ``backward`` returns
  ``(dX, [])``, and the classic bug: overlapping windows overwrite each
  other's gradient.

Verify one from the root of a clone: ``maxpool verify examples.loop_layer:maxpool``.
"""
