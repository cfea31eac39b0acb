"""The one normalisation of a finding's location keys (LABELLING.md section 4):
every mode's output, the LLM's answers and a clinician's edits in the review grid
go through it, so that all of them are scored and stored under one convention.

    tree = LocationTree.from_parents({"right upper lobe": "right lung", ..., "right lung": "both lungs"})
    tree.normalise(["both lungs", "right upper lobe", "left lower lobe"])
    # -> ["right upper lobe", "left lower lobe"]

The tree is data (default_rules.json "location_words" -> "parents": child key ->
parent key, editable by admins). The rules, applied to the union of a finding's
locations:

- a parent of lobes (a lung) is dropped when any of its children is listed: a
  lung-level key next to a lobe of that side says nothing more;
- a parent of parents ("both lungs") is dropped only when every child has a
  listed key under it (lobes of both sides are named); "nodules in both lungs,
  the largest in the RUL" stays both lungs + RUL;
- a middle key (a lung) listed with its parent and nothing under it is dropped:
  "right lung" beside "both lungs" adds nothing;
- unknown keys pass through; order follows the input, duplicates go.

A clinician's click in the review grid goes through `normalise_keeping`: the key
just ticked is never the one dropped (the listed keys under it go instead, or,
failing that, the listed keys above it), so the last click wins.

Plain Python, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class LocationTree:
    parent: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_parents(cls, parents: Mapping[str, str] | None) -> LocationTree:
        clean = {str(c): str(p) for c, p in (parents or {}).items() if c and p and c != p}
        return cls(clean)

    def children(self, key: str) -> list[str]:
        return [c for c, p in self.parent.items() if p == key]

    def ancestors(self, key: str) -> list[str]:
        out: list[str] = []
        seen = {key}
        while key in self.parent and self.parent[key] not in seen:
            key = self.parent[key]
            seen.add(key)
            out.append(key)
        return out

    def descendants(self, key: str) -> list[str]:
        return [c for c in self.parent if key in self.ancestors(c)]

    def normalise(self, keys: Iterable[str]) -> list[str]:
        listed = list(dict.fromkeys(k for k in keys if k))
        if not self.parent:
            return listed
        chosen = set(listed)
        # Keys with something listed below them.
        covered: set[str] = set()
        for key in chosen:
            covered.update(self.ancestors(key))
        drop: set[str] = set()
        for key in chosen:
            kids = self.children(key)
            if not kids:
                continue
            if all(not self.children(k) for k in kids):  # a parent of leaves (a lung)
                if key in covered:
                    drop.add(key)
            elif all(k in covered for k in kids):
                drop.add(key)  # a parent of parents, every branch named below
        for key in chosen - drop:
            # Nothing under it, and a listed ancestor already says as much.
            if (
                self.children(key)
                and key not in covered
                and any(a in chosen and a not in drop for a in self.ancestors(key))
            ):
                drop.add(key)
        return [k for k in listed if k not in drop]

    def normalise_keeping(self, keys: Iterable[str], keep: str) -> list[str]:
        """`normalise(keys)`, except that `keep` (the key a clinician just ticked)
        survives: when normalisation would drop it, the listed keys under it are
        dropped instead ("right lung" ticked beside "right upper lobe" -> "right
        lung"), and if it would still go, the listed keys above it ("right lung"
        ticked beside "both lungs" -> "right lung")."""
        listed = list(dict.fromkeys(k for k in keys if k))
        out = self.normalise(listed)
        if keep not in listed or keep in out:
            return out
        below = set(self.descendants(keep))
        out = self.normalise([k for k in listed if k not in below])
        if keep in out:
            return out
        above = set(self.ancestors(keep))
        return self.normalise([k for k in listed if k not in below and k not in above])


def normalise_locations(keys: Iterable[str], parents: Mapping[str, str] | None) -> list[str]:
    """`LocationTree.from_parents(parents).normalise(keys)` for one-off callers."""
    return LocationTree.from_parents(parents).normalise(keys)
