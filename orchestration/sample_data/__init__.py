"""The sample retailer: deterministic nightly dumps of every source system, with injected defects.

    from orchestration.sample_data import GeneratorConfig, generate
    summary = generate(Path("data"), GeneratorConfig(persons=5_000, seed=42))

See docs/sample_data.md.
"""

from .config import DEFECT_RATES, MALFORMED_DEFECTS, SCALES, GeneratorConfig
from .generator import GenerationSummary, generate

__all__ = ["DEFECT_RATES", "MALFORMED_DEFECTS", "SCALES", "GenerationSummary", "GeneratorConfig", "generate"]
