"""A correct layer written with Python loops, slowed to about 50 ms a call (issue 15's budget).

``examples/loop_layer.py``'s layer, each forward and backward call taking at
least `CALL_SECONDS`: at the default profile, checked case by case, it would
need minutes; ``maxpool verify`` must still end within its time budget.
"""

from __future__ import annotations

import time

from examples.loop_layer import LoopMaxPool, maxpool
from impls.conformance import axis_offsets, from_layer

CALL_SECONDS = 0.05


class SlowLoopMaxPool(LoopMaxPool):
    def forward(self, x):
        time.sleep(CALL_SECONDS)
        return super().forward(x)

    def backward(self, output_gradient, learning_rate):
        time.sleep(CALL_SECONDS)
        return super().backward(output_gradient, learning_rate)


slow = from_layer(
    lambda spec, input_shape: SlowLoopMaxPool(spec.kernel_size[0], spec.stride[0]),
    name="slow-loop-layer",
    leading_axes=1,
    backward=lambda layer, grad: layer.backward(grad, learning_rate=0.01),
    indices=axis_offsets(lambda layer, x, values: layer.offsets),
    capabilities=maxpool.capabilities,  # the example's limits
)
