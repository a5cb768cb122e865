import jax
import matplotlib.pyplot as plt
import pytest

from nasjax.graph import chain, draw_arch, random_arch, stack


def test_draw_writes_png(spec, tmp_path):
    arch = chain(
        spec, ["conv", "lstm", "attention"], [8, 16, 8], skips=[(0, 2), (1, 3)]
    )
    out = tmp_path / "arch.png"
    fig = draw_arch(arch, out)
    plt.close(fig)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_draw_random_arch_and_refuse_population(spec):
    arch = random_arch(jax.random.key(3), spec)
    plt.close(draw_arch(arch))
    with pytest.raises(ValueError, match="single arch"):
        draw_arch(stack([arch, arch]))
