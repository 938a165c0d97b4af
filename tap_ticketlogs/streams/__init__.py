"""The streams room: the shared REST base, windows, parents, prefetch, bookmarks, STATE, output."""
