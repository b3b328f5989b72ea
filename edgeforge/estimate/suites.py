"""Benchmark model suites: single layers for fitting, small networks of several families for the held-out check.

Each entry is a name and a builder returning a tf_keras model with random
weights; latency does not depend on the weight values. Builders import
TensorFlow lazily, so listing the suites is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class ModelCase:
    """A named benchmark model and the family it belongs to."""

    name: str
    family: str
    build: Callable[[], object]


def _k():
    from edgeforge._tf import keras

    return keras()


def _single(name: str, shape: tuple[int, ...], layer_factory: Callable[[object], object]) -> ModelCase:
    def build():
        k = _k()
        inputs = k.layers.Input(shape, batch_size=1)
        return k.Model(inputs, layer_factory(k)(inputs), name=name)

    return ModelCase(name, "layer", build)


def _conv(res: int, cin: int, cout: int, kernel: int, stride: int = 1) -> ModelCase:
    return _single(f"conv{kernel}x{kernel}s{stride}_{res}x{res}x{cin}_{cout}", (res, res, cin),
                   lambda k: k.layers.Conv2D(cout, kernel, strides=stride, padding="same", activation="relu"))


def _depthwise(res: int, channels: int, stride: int = 1) -> ModelCase:
    return _single(f"dw3x3s{stride}_{res}x{res}x{channels}", (res, res, channels),
                   lambda k: k.layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu"))


def _dense(units_in: int, units_out: int) -> ModelCase:
    return _single(f"dense_{units_in}_{units_out}", (units_in,), lambda k: k.layers.Dense(units_out, activation="relu"))


def _pool(kind: str, res: int, channels: int) -> ModelCase:
    layer = "MaxPooling2D" if kind == "max" else "AveragePooling2D"
    return _single(f"{kind}pool_{res}x{res}x{channels}", (res, res, channels), lambda k: getattr(k.layers, layer)(2))


def _global_mean(res: int, channels: int) -> ModelCase:
    return _single(f"mean_{res}x{res}x{channels}", (res, res, channels), lambda k: k.layers.GlobalAveragePooling2D())


def _add(res: int, channels: int) -> ModelCase:
    def build():
        k = _k()
        a = k.layers.Input((res, res, channels), batch_size=1)
        b = k.layers.Input((res, res, channels), batch_size=1)
        return k.Model([a, b], k.layers.Add()([a, b]), name=f"add_{res}x{res}x{channels}")

    return ModelCase(f"add_{res}x{res}x{channels}", "layer", build)


def _swish(res: int, channels: int) -> ModelCase:
    def build():
        k = _k()
        x = k.layers.Input((res, res, channels), batch_size=1)
        return k.Model(x, k.layers.Multiply()([x, k.layers.Activation("sigmoid")(x)]),
                       name=f"swish_{res}x{res}x{channels}")

    return ModelCase(f"swish_{res}x{res}x{channels}", "layer", build)


def _scale(res: int, channels: int) -> ModelCase:
    """Channel-wise scaling as in squeeze-and-excitation: (res, res, c) times (1, 1, c), a broadcast MUL."""
    name = f"scale_{res}x{res}x{channels}"

    def build():
        k = _k()
        x = k.layers.Input((res, res, channels), batch_size=1)
        gate = k.layers.Input((1, 1, channels), batch_size=1)
        return k.Model([x, gate], k.layers.Multiply()([x, gate]), name=name)

    return ModelCase(name, "layer", build)


def _activation(kind: str, res: int, channels: int) -> ModelCase:
    return _single(f"{kind}_{res}x{res}x{channels}", (res, res, channels), lambda k: k.layers.Activation(kind))


def _mini_cnn(res: int, widths: tuple[int, ...], name: str) -> ModelCase:
    def build():
        k = _k()
        x = inputs = k.layers.Input((res, res, 3), batch_size=1)
        for width in widths:
            x = k.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
            x = k.layers.MaxPooling2D(2)(x)
        x = k.layers.GlobalAveragePooling2D()(x)
        return k.Model(inputs, k.layers.Dense(10)(x), name=name)

    return ModelCase(name, "small-cnn", build)


def _inverted_residual(res: int, channels: int, expand: int, stride: int = 1) -> ModelCase:
    """Build one MobileNetV2 block: 1x1 expansion, 3x3 depthwise, 1x1 projection, and the residual add at stride 1."""
    name = f"block_ir_{res}x{res}x{channels}_e{expand}_s{stride}"

    def build():
        k = _k()
        layers = k.layers
        x = inputs = layers.Input((res, res, channels), batch_size=1)
        y = layers.Conv2D(channels * expand, 1, activation="relu6")(x)
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6")(y)
        y = layers.Conv2D(channels, 1)(y)
        if stride == 1:
            y = layers.Add()([x, y])
        return k.Model(inputs, y, name=name)

    return ModelCase(name, "block", build)


def _squeeze_excite(res: int, channels: int) -> ModelCase:
    """Build a squeeze-and-excitation gate: global mean, two 1x1 convolutions, a broadcast multiply."""
    name = f"block_se_{res}x{res}x{channels}"

    def build():
        k = _k()
        layers = k.layers
        x = inputs = layers.Input((res, res, channels), batch_size=1)
        gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
        gate = layers.Conv2D(max(4, channels // 4), 1, activation="swish")(gate)
        gate = layers.Conv2D(channels, 1, activation="sigmoid")(gate)
        return k.Model(inputs, layers.Multiply()([x, gate]), name=name)

    return ModelCase(name, "block", build)


def _residual_pair(res: int, channels: int) -> ModelCase:
    """Two 3x3 convolutions with an identity shortcut, as in a ResNet basic block."""
    name = f"block_res_{res}x{res}x{channels}"

    def build():
        k = _k()
        layers = k.layers
        x = inputs = layers.Input((res, res, channels), batch_size=1)
        y = layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
        y = layers.Conv2D(channels, 3, padding="same")(y)
        return k.Model(inputs, layers.ReLU()(layers.Add()([x, y])), name=name)

    return ModelCase(name, "block", build)


def calibration_suite() -> list[ModelCase]:
    """Single layers across sizes and operator types, plus a few small networks."""
    cases = [
        _conv(32, 8, 16, 3), _conv(32, 16, 32, 3), _conv(16, 32, 64, 3), _conv(16, 64, 64, 3),
        _conv(8, 64, 128, 3), _conv(8, 128, 128, 3), _conv(64, 3, 16, 3), _conv(24, 24, 48, 3),
        _conv(64, 24, 24, 3), _conv(32, 48, 48, 3), _conv(32, 64, 64, 3), _conv(16, 96, 96, 3),
        _conv(32, 16, 32, 3, 2), _conv(16, 64, 64, 3, 2), _conv(48, 3, 24, 3, 2), _conv(96, 3, 16, 3, 2),
        _conv(32, 16, 32, 1), _conv(16, 64, 128, 1), _conv(8, 128, 256, 1), _conv(16, 32, 16, 1),
        _conv(32, 96, 24, 1), _conv(24, 24, 144, 1), _conv(12, 144, 40, 1), _conv(48, 16, 96, 1),
        _conv(48, 96, 16, 1), _conv(24, 144, 32, 1), _conv(1, 96, 24, 1), _conv(1, 24, 96, 1),
        _depthwise(32, 32), _depthwise(16, 64), _depthwise(8, 128), _depthwise(64, 16), _depthwise(16, 192),
        _depthwise(48, 96), _depthwise(24, 192), _depthwise(32, 32, 2), _depthwise(24, 96, 2),
        _depthwise(48, 144, 2),
        _dense(64, 64), _dense(256, 256), _dense(512, 512), _dense(1024, 256), _dense(128, 1024),
        _dense(784, 128), _dense(1024, 1024), _dense(2048, 512), _dense(512, 2048), _dense(2048, 2048),
        _dense(4096, 1024), _dense(1024, 4096),
        _pool("max", 32, 16), _pool("max", 16, 64), _pool("avg", 32, 16), _pool("avg", 16, 64),
        _global_mean(16, 64), _global_mean(8, 256), _global_mean(32, 32), _global_mean(48, 96),
        _add(32, 32), _add(16, 64), _add(8, 128), _add(48, 24),
        _swish(32, 32), _swish(16, 96), _activation("sigmoid", 24, 96), _activation("relu6", 32, 32),
        _scale(32, 32), _scale(16, 96), _scale(48, 64),
        _mini_cnn(32, (8, 16), "cnn_a"), _mini_cnn(48, (16, 32, 64), "cnn_b"), _mini_cnn(24, (32, 32), "cnn_c"),
        # Smaller members of the held-out families, so that operator interplay inside a network is fitted.
        _mobilenet_v2(0.35, 48, "small-network"), _efficientnet_style(8, 48, "small-network"),
        _resnet_style(8, 24, "small-network"), _mlp(256, 2, 128, "small-network"),
        _mlp(1536, 1, 512, "small-network"),
        # Channel counts that are not multiples of 32, where the kernels' channel tiles leave lanes idle.
        _conv(32, 24, 24, 3), _conv(16, 48, 48, 3), _conv(16, 40, 80, 3), _conv(32, 32, 48, 3), _conv(24, 48, 24, 3),
        _conv(32, 40, 40, 1), _conv(16, 80, 120, 1),
        # Weights between 4 and 16 MB in fp32 (1 to 4 MB in int8), where the time per byte rises
        # as the weights outgrow the caches.
        _dense(1536, 1024), _dense(1280, 2048), _dense(3072, 1024), _dense(1792, 2048), _dense(2560, 1536),
        _mlp(768, 2, 1536, "small-network"), _mlp(1280, 2, 640, "small-network"),
        # Multi-layer blocks that the held-out networks are built from, so that the fit measures
        # operators in sequence, as they run inside a network.
        _inverted_residual(24, 16, 6), _inverted_residual(12, 32, 6), _inverted_residual(24, 24, 4, 2),
        _squeeze_excite(24, 64), _squeeze_excite(12, 96), _squeeze_excite(32, 32),
        _residual_pair(16, 32), _residual_pair(24, 24), _residual_pair(8, 64),
    ]
    return cases


def _mobilenet_v2(alpha: float, res: int, family: str = "mobilenet") -> ModelCase:
    name = f"mobilenetv2_{alpha}_{res}"

    def build():
        k = _k()
        return k.applications.MobileNetV2(input_shape=(res, res, 3), alpha=alpha, weights=None, classes=10)

    return ModelCase(name, family, build)


def _efficientnet_style(width: int, res: int, family: str = "efficientnet-style") -> ModelCase:
    """MBConv blocks with squeeze-and-excitation and swish, as in EfficientNet, at a small width."""
    name = f"effnet_style_w{width}_{res}"

    def build():
        k = _k()
        layers = k.layers

        def mbconv(x, out_channels: int, expand: int, stride: int):
            channels = x.shape[-1]
            y = layers.Conv2D(channels * expand, 1, use_bias=False)(x)
            y = layers.BatchNormalization()(y)
            y = layers.Activation("swish")(y)
            y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(y)
            y = layers.BatchNormalization()(y)
            y = layers.Activation("swish")(y)
            squeeze = layers.GlobalAveragePooling2D(keepdims=True)(y)
            squeeze = layers.Conv2D(max(4, channels // 4), 1, activation="swish")(squeeze)
            squeeze = layers.Conv2D(channels * expand, 1, activation="sigmoid")(squeeze)
            y = layers.Multiply()([y, squeeze])
            y = layers.Conv2D(out_channels, 1, use_bias=False)(y)
            y = layers.BatchNormalization()(y)
            if stride == 1 and channels == out_channels:
                y = layers.Add()([x, y])
            return y

        x = inputs = layers.Input((res, res, 3), batch_size=1)
        x = layers.Conv2D(width, 3, strides=2, padding="same", activation="swish")(x)
        for out_channels, stride in ((width, 1), (width * 3 // 2, 2), (width * 3 // 2, 1), (width * 2, 2)):
            x = mbconv(x, out_channels, 4, stride)
        x = layers.GlobalAveragePooling2D()(x)
        return k.Model(inputs, layers.Dense(10)(x), name=name)

    return ModelCase(name, family, build)


def _resnet_style(width: int, res: int, family: str = "resnet-style") -> ModelCase:
    """Basic residual blocks (two 3x3 convolutions and an identity or 1x1 shortcut)."""
    name = f"resnet_style_w{width}_{res}"

    def build():
        k = _k()
        layers = k.layers

        def block(x, channels: int, stride: int):
            y = layers.Conv2D(channels, 3, strides=stride, padding="same", activation="relu")(x)
            y = layers.Conv2D(channels, 3, padding="same")(y)
            shortcut = x
            if stride != 1 or x.shape[-1] != channels:
                shortcut = layers.Conv2D(channels, 1, strides=stride)(x)
            return layers.ReLU()(layers.Add()([y, shortcut]))

        x = inputs = layers.Input((res, res, 3), batch_size=1)
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = block(x, width, 1)
        x = block(x, width * 2, 2)
        x = block(x, width * 4, 2)
        x = layers.GlobalAveragePooling2D()(x)
        return k.Model(inputs, layers.Dense(10)(x), name=name)

    return ModelCase(name, family, build)


def _plain_cnn(widths: tuple[int, ...], res: int) -> ModelCase:
    name = f"plain_cnn_{'-'.join(map(str, widths))}_{res}"

    def build():
        k = _k()
        x = inputs = k.layers.Input((res, res, 3), batch_size=1)
        for width in widths:
            x = k.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
            x = k.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
            x = k.layers.MaxPooling2D(2)(x)
        x = k.layers.Flatten()(x)
        x = k.layers.Dense(64, activation="relu")(x)
        return k.Model(inputs, k.layers.Dense(10)(x), name=name)

    return ModelCase(name, "plain-cnn", build)


def _mlp(width: int, depth: int, features: int, family: str = "mlp") -> ModelCase:
    name = f"mlp_{features}_{width}x{depth}"

    def build():
        k = _k()
        x = inputs = k.layers.Input((features,), batch_size=1)
        for _ in range(depth):
            x = k.layers.Dense(width, activation="relu")(x)
        return k.Model(inputs, k.layers.Dense(10)(x), name=name)

    return ModelCase(name, family, build)


def held_out_suite() -> list[ModelCase]:
    """Networks from five families at several widths and resolutions, never used in the fit."""
    return [
        _mobilenet_v2(0.35, 96), _mobilenet_v2(0.5, 128),
        _efficientnet_style(16, 64), _efficientnet_style(24, 96),
        _resnet_style(16, 32), _resnet_style(24, 64),
        _plain_cnn((16, 32), 32), _plain_cnn((32, 64, 64), 64),
        _mlp(512, 2, 784), _mlp(1024, 2, 1024), _mlp(1024, 3, 2048),
    ]
