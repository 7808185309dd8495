
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/proto/kv_parse.c" "proto/CMakeFiles/kvproto.dir/kv_parse.c.o" "gcc" "proto/CMakeFiles/kvproto.dir/kv_parse.c.o.d"
  "/work/main/proto/kv_proto.c" "proto/CMakeFiles/kvproto.dir/kv_proto.c.o" "gcc" "proto/CMakeFiles/kvproto.dir/kv_proto.c.o.d"
  "/work/main/proto/kv_slot.c" "proto/CMakeFiles/kvproto.dir/kv_slot.c.o" "gcc" "proto/CMakeFiles/kvproto.dir/kv_slot.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
