file(REMOVE_RECURSE
  "CMakeFiles/kvproto.dir/kv_parse.c.o"
  "CMakeFiles/kvproto.dir/kv_parse.c.o.d"
  "CMakeFiles/kvproto.dir/kv_proto.c.o"
  "CMakeFiles/kvproto.dir/kv_proto.c.o.d"
  "CMakeFiles/kvproto.dir/kv_slot.c.o"
  "CMakeFiles/kvproto.dir/kv_slot.c.o.d"
  "libkvproto.a"
  "libkvproto.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/kvproto.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
