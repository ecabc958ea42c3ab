"""Performance paths, behind one small interface: features call these names and nothing deeper.

    generate_fast     a model's generator for display: BatchNorm folded, channels_last, DCGAN's
                      transposed convs as a matrix product / sub-pixel convolution (generators.py)
    translate_fast    a translation generator for display: NHWC, prepacked oneDNN convolutions,
                      Winograd F(4x4, 3x3) residual convolutions (translators.py, winograd.py)
    fold_batchnorm, replace_modules, weights_key, is_channels_last
                      the shared pieces (common.py), also used by the training engine

Every path keeps a cached eval copy of the caller's model, rebuilt when one of its weights changes,
and gives the same numbers as plain eager PyTorch within float32 rounding (tests hold them to it).
Nothing here knows about pages, checkpoints or data.
"""

from studio.accel.common import fold_batchnorm, is_channels_last, replace_modules, weights_key
from studio.accel.generators import generate_fast
from studio.accel.translators import translate_fast

__all__ = ["fold_batchnorm", "generate_fast", "is_channels_last", "replace_modules", "translate_fast", "weights_key"]
