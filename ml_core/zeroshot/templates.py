"""Prompt templates for zero-shot tags: `{}` is replaced by the tag's name (or a synonym).

IMAGENET_TEMPLATES is the 80-prompt ensemble of the CLIP paper (Radford et al. 2021, the
ImageNet notebook); SHORT_TEMPLATES is its 18-prompt subset; PHOTO_TEMPLATES is the single
"a photo of a {}." baseline. Written out here (not imported) so ml_core stands alone.
"""
import string

IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.",
    "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.", "a {} in a video game.",
    "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.", "a photo of a {}.",
    "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.",
    "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.",
    "a jpeg corrupted photo of the {}.", "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.",
    "a photo of the small {}.", "a photo of the weird {}.", "the cartoon {}.", "art of the {}.",
    "a drawing of the {}.", "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.",
    "a dark photo of a {}.", "itap of a {}.", "graffiti of the {}.", "a toy {}.",
    "itap of my {}.", "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
)

SHORT_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a cropped photo of the {}.", "a tattoo of a {}.", "a bright photo of a {}.",
    "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.", "a drawing of a {}.",
    "a photo of my {}.", "a photo of the cool {}.", "a close-up photo of a {}.", "a painting of the {}.",
    "a pixelated photo of the {}.", "a photo of a {}.",
)

PHOTO_TEMPLATES: tuple[str, ...] = ("a photo of a {}.",)

TEMPLATE_SETS = {"imagenet": IMAGENET_TEMPLATES, "short": SHORT_TEMPLATES, "photo": PHOTO_TEMPLATES}
DEFAULT_TEMPLATES = "short"


def resolve_templates(templates) -> tuple[str, ...]:
    """A template list from a set name ("imagenet", "short", "photo"), a list, or None (default set).
    Each template must contain exactly one `{}`."""
    if templates is None or templates == [] or templates == ():
        templates = DEFAULT_TEMPLATES
    if isinstance(templates, str):
        if templates not in TEMPLATE_SETS:
            raise ValueError(f"unknown template set {templates!r} (known: {', '.join(TEMPLATE_SETS)})")
        return TEMPLATE_SETS[templates]
    out = tuple(templates)
    for t in out:
        if not isinstance(t, str) or len(t) > 200 or not _formats_with_one_blank(t):
            raise ValueError(f"template {t!r} must be a string with exactly one {{}} (other braces doubled: {{{{ }}}})")
    return out


def _formats_with_one_blank(template: str) -> bool:
    """True when the template has exactly one plain `{}` (no index, name, conversion or format spec:
    "x {} {0}" and "{:>9999999}" are refused) and formats."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError:
        return False
    return fields == [("", "", None)]
