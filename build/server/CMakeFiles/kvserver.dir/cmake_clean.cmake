file(REMOVE_RECURSE
  "../bin/kvserver"
  "../bin/kvserver.pdb"
  "CMakeFiles/kvserver.dir/kvserver.c.o"
  "CMakeFiles/kvserver.dir/kvserver.c.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/kvserver.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
