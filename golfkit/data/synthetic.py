"""A deterministic, English-like synthetic corpus with structure a small model can learn.

Documents have a topic (which skews word choice), a protagonist whose name recurs (something
attention can copy), number agreement between subject and verb, counting sequences, dates,
quotes, and a sprinkling of multi-byte and rare characters so that tokenizers trained on it
exercise multi-byte pieces and byte fallback. Same seed, same text, on every platform.
"""

from __future__ import annotations

import random

NAMES = ["Anna", "Ben", "Clara", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kofi", "Lena", "Marta", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tomas", "Vera",
         "José", "Zoë", "Müller", "Åsa", "Chloé", "Dvořák", "Ngozi", "Yuki", "Łukasz", "Søren"]
PLACES = ["the harbor", "the old mill", "the market", "the library", "the valley", "the station",
          "the school", "the river", "the forest", "the bakery", "São Paulo", "Kraków", "Zürich",
          "Reykjavík", "the village", "the museum", "the garden", "the hospital", "東京", "Αθήνα"]
TOPICS = {
    "farming": (["farmer", "field", "tractor", "harvest", "cow", "barn", "seed", "fence", "orchard", "goat"],
                ["plant", "water", "feed", "gather", "plow", "sell", "mend", "count"]),
    "science": (["scientist", "experiment", "sample", "theory", "laboratory", "microscope", "result",
                 "paper", "cell", "equation"],
                ["measure", "test", "observe", "publish", "repeat", "explain", "record", "compare"]),
    "sailing": (["sailor", "boat", "wave", "storm", "sail", "anchor", "captain", "island", "rope", "compass"],
                ["steer", "drift", "anchor", "tie", "watch", "navigate", "pull", "reach"]),
    "cooking": (["cook", "soup", "oven", "bread", "recipe", "knife", "kitchen", "pepper", "onion", "pot"],
                ["bake", "stir", "chop", "taste", "boil", "serve", "slice", "season"]),
    "music": (["musician", "song", "piano", "violin", "concert", "melody", "choir", "drum", "note", "stage"],
              ["play", "sing", "tune", "practice", "compose", "perform", "hum", "listen"]),
    "trade": (["merchant", "coin", "price", "market", "ledger", "cart", "contract", "debt", "crate", "buyer"],
              ["buy", "trade", "weigh", "pay", "lend", "borrow", "bargain", "ship"]),
}
COMMON_NOUNS = ["day", "friend", "house", "road", "door", "letter", "window", "child", "year", "question"]
ADJECTIVES = ["old", "young", "quiet", "bright", "heavy", "small", "large", "careful", "strange", "green",
              "cold", "warm", "tired", "patient", "sudden", "narrow", "gentle", "busy", "empty", "golden"]
ADVERBS = ["slowly", "quickly", "carefully", "again", "often", "never", "always", "quietly", "early", "late"]
PREPS = ["near", "behind", "inside", "beyond", "under", "across", "beside", "toward"]
NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
IRREGULAR_PAST = {"sell": "sold", "tie": "tied", "buy": "bought", "pay": "paid", "lend": "lent",
                  "sing": "sang", "hum": "hummed", "stir": "stirred", "plan": "planned", "ship": "shipped",
                  "feed": "fed", "chop": "chopped"}
RARE = ["café", "naïve", "façade", "résumé", "—", "€", "°C", "½", "✓", "☕", "♪", "…"]


def _plural(noun: str) -> str:
    if noun == "child":
        return "children"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _third(verb: str) -> str:
    if verb.endswith(("s", "x", "ch", "sh", "o")):
        return verb + "es"
    return verb + "s"


def _past(verb: str) -> str:
    if verb in IRREGULAR_PAST:
        return IRREGULAR_PAST[verb]
    return verb + "d" if verb.endswith("e") else verb + "ed"


class _Doc:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.topic = rng.choice(sorted(TOPICS))
        self.nouns, self.verbs = TOPICS[self.topic]
        self.hero = rng.choice(NAMES)
        self.friend = rng.choice([n for n in NAMES if n != self.hero])
        self.place = rng.choice(PLACES)

    def noun(self) -> str:
        return self.rng.choice(self.nouns if self.rng.random() < 0.75 else COMMON_NOUNS)

    def subject(self) -> tuple[str, bool]:
        r = self.rng.random()
        if r < 0.3:
            return self.hero, False
        if r < 0.4:
            return self.friend, False
        plural = self.rng.random() < 0.4
        adj = self.rng.choice(ADJECTIVES) + " " if self.rng.random() < 0.5 else ""
        n = self.noun()
        return f"the {adj}{_plural(n) if plural else n}", plural

    def sentence(self) -> str:
        rng = self.rng
        kind = rng.random()
        subj, plural = self.subject()
        verb = rng.choice(self.verbs)
        obj = f"the {self.noun()}"
        if kind < 0.35:
            s = f"{subj} {verb if plural else _third(verb)} {obj} {rng.choice(PREPS)} {self.place}"
        elif kind < 0.6:
            s = f"{subj} {rng.choice(ADVERBS)} {_past(verb)} {obj}"
        elif kind < 0.7:
            k = rng.randrange(2, 6)
            start = rng.randrange(0, len(NUMBERS) - k)
            s = f"{subj} counted {', '.join(NUMBERS[start:start + k])} {_plural(self.noun())}"
        elif kind < 0.8:
            year = rng.randrange(1850, 2030)
            s = f"in {year}, {self.hero} went to {self.place} with {self.friend}"
        elif kind < 0.9:
            q = f"the {self.noun()} is {rng.choice(ADJECTIVES)}"
            return f'"{q[0].upper()}{q[1:]}," said {rng.choice([self.hero, self.friend])}.'
        else:
            n = rng.randrange(2, 100)
            s = f"{self.hero} had {n} {_plural(self.noun())} and {rng.choice(ADJECTIVES)} {_plural(self.noun())}"
        if rng.random() < 0.03:
            s += " " + rng.choice(RARE)
        return s[0].upper() + s[1:] + rng.choice([".", ".", ".", "!", "?"] if kind < 0.6 else ["."])

    def text(self) -> str:
        paras = []
        for _ in range(self.rng.randrange(1, 4)):
            paras.append(" ".join(self.sentence() for _ in range(self.rng.randrange(2, 7))))
        return "\n".join(paras)


def documents(n: int, seed: int = 0) -> list[str]:
    """`n` synthetic documents, deterministic in `seed`."""
    rng = random.Random(seed)
    return [_Doc(rng).text() for _ in range(n)]
