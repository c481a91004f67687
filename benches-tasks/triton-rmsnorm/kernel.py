"""The agent's Triton kernel: RMSNorm with a (1 + weight) scale, gated by GELU (tanh form).

    y[r, :] = x[r, :] / sqrt(mean(x[r, :]**2) + eps) * (1 + weight) * gelu_tanh(gate[r, :])
    gelu_tanh(g) = 0.5 * g * (1 + tanh(sqrt(2/pi) * (g + 0.044715 * g**3)))

x, gate and y are float16 [rows, dim] (contiguous, same strides); weight is float32 [dim].
benchmark.py calls launch(x, gate, weight, out, eps, config) with config read from
kernel_config.json; it owns the inputs, the reference and the timing.

The starting version: one program per row, two passes over the row in chunks of
block_size (sum of squares, then the output).
"""

import triton
import triton.language as tl


@triton.jit
def rmsnorm_gelu_kernel(x_ptr, g_ptr, w_ptr, y_ptr, n_rows, dim, stride, eps,
                        BLOCK: tl.constexpr, ROWS: tl.constexpr):
    pid = tl.program_id(0)
    for r in tl.static_range(ROWS):
        row = pid * ROWS + r
        if row < n_rows:
            acc = tl.zeros([BLOCK], dtype=tl.float32)
            for start in range(0, dim, BLOCK):
                cols = start + tl.arange(0, BLOCK)
                mask = cols < dim
                x = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
                acc += x * x
            inv = 1.0 / tl.sqrt(tl.sum(acc, axis=0) / dim + eps)
            for start in range(0, dim, BLOCK):
                cols = start + tl.arange(0, BLOCK)
                mask = cols < dim
                x = tl.load(x_ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
                g = tl.load(g_ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)
                w = tl.load(w_ptr + cols, mask=mask, other=0.0)
                inner = 0.7978845608028654 * (g + 0.044715 * g * g * g)
                t = 2.0 * tl.sigmoid(2.0 * inner) - 1.0
                y = x * inv * (1.0 + w) * (0.5 * g * (1.0 + t))
                tl.store(y_ptr + row * stride + cols, y.to(tl.float16), mask=mask)


def launch(x, gate, weight, out, eps, config):
    n_rows, dim = x.shape
    block = config["block_size"] or triton.next_power_of_2(dim)
    rows = config["rows_per_program"]
    grid = (triton.cdiv(n_rows, rows),)
    rmsnorm_gelu_kernel[grid](
        x, gate, weight, out, n_rows, dim, x.stride(0), eps,
        BLOCK=block, ROWS=rows, num_warps=config["num_warps"], num_stages=config["num_stages"],
    )
