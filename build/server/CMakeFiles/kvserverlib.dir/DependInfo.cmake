
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/server/kv_server.c" "server/CMakeFiles/kvserverlib.dir/kv_server.c.o" "gcc" "server/CMakeFiles/kvserverlib.dir/kv_server.c.o.d"
  "/work/main/server/kv_server_opts.c" "server/CMakeFiles/kvserverlib.dir/kv_server_opts.c.o" "gcc" "server/CMakeFiles/kvserverlib.dir/kv_server_opts.c.o.d"
  "/work/main/server/kv_slab.c" "server/CMakeFiles/kvserverlib.dir/kv_slab.c.o" "gcc" "server/CMakeFiles/kvserverlib.dir/kv_slab.c.o.d"
  "/work/main/server/kv_stats.c" "server/CMakeFiles/kvserverlib.dir/kv_stats.c.o" "gcc" "server/CMakeFiles/kvserverlib.dir/kv_stats.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/main/build/proto/CMakeFiles/kvproto.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
