"""``make demo``: the template's main job, end to end on an embedded AWS stand-in."""
