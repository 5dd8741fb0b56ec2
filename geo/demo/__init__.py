"""The synthetic Lianzhou demo world: terrain, places, networks and people from one seed.

Everything here is pure computation (no database); ``layers.demo`` loads it.
Bump GENERATOR_VERSION whenever a change alters the generated data, so a database holding
an older demo world is reloaded.
"""

GENERATOR_VERSION = "5"
