file(REMOVE_RECURSE
  "libkvserverlib.a"
)
