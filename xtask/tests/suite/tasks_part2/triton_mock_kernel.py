import torch


def launch(x, gate, weight, out, eps, config):
    out.copy_(torch.mock_rmsnorm_gelu(x, gate, weight, eps))
