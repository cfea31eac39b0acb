"""The rule engine: a negation-aware lexicon extractor with cross-sentence
lesion-location linking, driven by rules stored as data (see engine.py).

    from inference.ml.engine import RuleEngine, default_ruleset
    engine = RuleEngine.for_chest_ct(lexicon, rules=default_ruleset())
    engine.extract(text).as_gold()

Plain Python, no Django.
"""

from inference.ml.engine.engine import EngineFinding, EngineResult, RuleEngine
from inference.ml.engine.ruleset import RuleSet, default_ruleset

__all__ = ["EngineFinding", "EngineResult", "RuleEngine", "RuleSet", "default_ruleset"]
