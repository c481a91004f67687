import torch


def launch(x, gate, weight, out, eps, config):
    # only the first half of the rows
    half = x.shape[0] // 2
    out[:half] = torch.mock_rmsnorm_gelu(x[:half], gate[:half], weight, eps)
