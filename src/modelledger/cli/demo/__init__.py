"""``mledger demo``: the end-to-end story, chapter by chapter, played with the real commands."""
