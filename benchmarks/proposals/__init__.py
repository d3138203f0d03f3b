"""Drop-in replacements for modules of the code under test, proposed for their cold-start cost.

The cold-start benchmark measures a copy of the layer with these swapped in (the layer itself is never
edited here); docs/performance.md reports the difference. They keep the public API of what they replace.
"""
