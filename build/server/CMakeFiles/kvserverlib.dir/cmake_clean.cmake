file(REMOVE_RECURSE
  "CMakeFiles/kvserverlib.dir/kv_server.c.o"
  "CMakeFiles/kvserverlib.dir/kv_server.c.o.d"
  "CMakeFiles/kvserverlib.dir/kv_server_opts.c.o"
  "CMakeFiles/kvserverlib.dir/kv_server_opts.c.o.d"
  "CMakeFiles/kvserverlib.dir/kv_slab.c.o"
  "CMakeFiles/kvserverlib.dir/kv_slab.c.o.d"
  "CMakeFiles/kvserverlib.dir/kv_stats.c.o"
  "CMakeFiles/kvserverlib.dir/kv_stats.c.o.d"
  "libkvserverlib.a"
  "libkvserverlib.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/kvserverlib.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
