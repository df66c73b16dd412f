#!/usr/bin/python3
"""PyTorch's side of torch-roundtrip.spec.ts (issue 11). Debian's python3-torch / python3-torchvision.

    torch_roundtrip.py make <dir>    full-width torchvision resnet18(num_classes=128), random weights and
                                     BatchNorm statistics -> <dir>/resnet18.pth, its outputs -> <dir>/outputs.json
    torch_roundtrip.py check <dir>   loads our exports with load_state_dict(strict=True) into torchvision's
                                     resnet18 and into the official MoCo builder (MOCO_REFERENCE_DIR: a checkout
                                     of facebookresearch/moco; else a stand-in with the builder's attribute names)
                                     and prints the max abs difference of their outputs as JSON
"""
import json, os, sys
import torch
import torch.nn as nn
import torchvision


def fixed_input(n, size):
    i = torch.arange(n * 3 * size * size, dtype=torch.float64)
    return (torch.sin(0.37 * i) + 0.5 * torch.cos(0.11 * i)).float().reshape(n, 3, size, size)


def outputs(model, x):
    with torch.no_grad():
        body = nn.Sequential(*list(model.children())[:-1])
        features = torch.flatten(body(x), 1)
        return features, model.fc(features)


def moco_builder(dim, K):
    reference = os.environ.get('MOCO_REFERENCE_DIR')
    if reference and os.path.exists(os.path.join(reference, 'moco', 'builder.py')):
        sys.path.insert(0, reference)
        import moco.builder
        return moco.builder.MoCo(torchvision.models.resnet18, dim=dim, K=K), 'moco.builder.MoCo (%s)' % reference

    class StandIn(nn.Module):  # the builder's attributes and buffers, as builder.py registers them
        def __init__(self):
            super().__init__()
            self.encoder_q = torchvision.models.resnet18(num_classes=dim)
            self.encoder_k = torchvision.models.resnet18(num_classes=dim)
            self.register_buffer('queue', torch.randn(dim, K))
            self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))
    return StandIn(), 'stand-in (MOCO_REFERENCE_DIR not set)'


class DataParallelKeys(nn.Module):
    """DistributedDataParallel's `module.` prefix without a process group."""
    def __init__(self, module):
        super().__init__()
        self.module = module


def main():
    command, directory = sys.argv[1], sys.argv[2]
    x = fixed_input(2, 64)
    if command == 'make':
        torch.manual_seed(0)
        model = torchvision.models.resnet18(num_classes=128)
        with torch.no_grad():
            for name, t in model.state_dict().items():
                if name.endswith('running_mean') or name.endswith('bn1.bias') or name.endswith('bn2.bias'):
                    t.copy_(torch.randn(t.shape) * 0.1)
                elif name.endswith('running_var'):
                    t.copy_(0.5 + torch.rand(t.shape))
        model.eval()
        torch.save(model.state_dict(), os.path.join(directory, 'resnet18.pth'))
        features, output = outputs(model, x)
        json.dump({'features': features.flatten().tolist(), 'output': output.flatten().tolist(), 'torch': torch.__version__}, open(os.path.join(directory, 'outputs.json'), 'w'))
        return
    expected = json.load(open(os.path.join(directory, 'outputs.json')))
    model = torchvision.models.resnet18(num_classes=128)
    model.load_state_dict(torch.load(os.path.join(directory, 'exported.pth')), strict=True)
    model.eval()
    features, output = outputs(model, x)
    result = {
        'torchvision_strict': True,
        'features_max_abs_diff': (features.flatten() - torch.tensor(expected['features'])).abs().max().item(),
        'output_max_abs_diff': (output.flatten() - torch.tensor(expected['output'])).abs().max().item(),
    }
    checkpoint = torch.load(os.path.join(directory, 'exported-moco.pth.tar'))
    K = checkpoint['state_dict']['module.queue'].shape[1]
    builder, which = moco_builder(128, K)
    DataParallelKeys(builder).load_state_dict(checkpoint['state_dict'], strict=True)
    builder.eval()
    q_features, _ = outputs(builder.encoder_q, x)
    result.update({'moco_builder': which, 'moco_strict': True, 'moco_query_features_max_abs_diff': (q_features.flatten() - torch.tensor(expected['features'])).abs().max().item()})
    print(json.dumps(result))


if __name__ == '__main__':
    main()
