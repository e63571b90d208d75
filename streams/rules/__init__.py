"""Rules: what automation services want to hear about (tags, segments, workflow triggers).

``model`` defines rules as data; ``match`` evaluates them against canonical events. Both are
pure: the agents that apply them live in ``streams.agents``.
"""
