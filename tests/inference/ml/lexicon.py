"""A toy chest CT lexicon (key -> keywords and regexes, the schema JSON's layout) with
English, Korean and regex values, shared by the text engine's and the baseline's tests."""

LEXICON = {
    "nodule": [("nodule", "keyword"), ("nodules", "keyword"), ("결절", "keyword")],
    "ground-glass opacity": [("GGO", "keyword"), (r"\bground[\s-]*glass\b", "regex")],
    "pleural effusion": [("pleural effusion", "keyword"), ("흉수", "keyword")],
    "right upper lobe": [("RUL", "keyword"), ("right upper lobe", "keyword"), ("우상엽", "keyword")],
    "left lower lobe": [("LLL", "keyword"), (r"\b(?:lt|left)\.?\s*lower\s+lobe\b", "regex")],
    "pleura": [("pleural", "keyword")],
}
