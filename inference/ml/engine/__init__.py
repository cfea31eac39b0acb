"""The rule engine: a negation-aware lexicon extractor with cross-sentence
lesion-location linking, driven by rules stored as data (see engine.py), on the
text engine (inference.ml.text).

    from inference.ml.defaults import default_ruleset
    from inference.ml.engine import RuleEngine
    engine = RuleEngine.for_chest_ct(lexicon, rules=default_ruleset())
    engine.extract(text).as_gold()

Plain Python, no Django.
"""

from inference.ml.engine.engine import EngineFinding, EngineResult, RuleEngine

__all__ = ["EngineFinding", "EngineResult", "RuleEngine"]
