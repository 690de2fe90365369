"""Random run names in MLflow's style: ``adjective-animal-number``, at most 20 characters."""

from __future__ import annotations

import random

__all__ = ["generate_run_name"]

_ADJECTIVES = (
    "able", "agile", "amber", "amused", "awesome", "bold", "brave", "bright", "calm", "capable",
    "clever", "cool", "crisp", "curious", "daring", "dapper", "eager", "earnest", "fast", "fearless",
    "fine", "fleet", "fluffy", "gentle", "glad", "golden", "grand", "happy", "honest", "humble",
    "jolly", "keen", "kind", "lively", "loyal", "lucky", "merry", "mighty", "modest", "nimble",
    "noble", "peaceful", "plucky", "polite", "proud", "quick", "quiet", "rare", "resilient", "rosy",
    "shy", "silent", "smiling", "sleek", "steady", "sunny", "swift", "tidy", "valiant", "vivid",
    "warm", "wise", "witty", "zesty",
)
_ANIMALS = (
    "ant", "ape", "bass", "bat", "bear", "bee", "bird", "boar", "carp", "cat", "cod", "colt", "crab",
    "crane", "crow", "deer", "doe", "dog", "dove", "duck", "eel", "elk", "finch", "fish", "foal",
    "fox", "frog", "gnat", "goat", "goose", "hare", "hawk", "hen", "heron", "horse", "jay", "koi",
    "lamb", "lark", "lion", "lynx", "mole", "moth", "mouse", "newt", "owl", "ox", "panda", "pig",
    "pike", "ram", "rat", "robin", "seal", "shrew", "slug", "snail", "squid", "stag", "swan", "toad",
    "trout", "wasp", "whale", "wolf", "worm", "wren", "yak", "zebra",
)


def generate_run_name(max_length: int = 20) -> str:
    """A name like ``brave-owl-417``; the number is 0..1000, the whole at most ``max_length`` chars."""
    name = ""
    for _ in range(10):
        name = f"{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}-{random.randint(0, 1000)}"
        if len(name) <= max_length:
            return name
    return name[:max_length]
