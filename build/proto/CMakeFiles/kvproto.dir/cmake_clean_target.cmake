file(REMOVE_RECURSE
  "libkvproto.a"
)
