# startup_bench: whole-process wall time of `parplan` commands (the planning binary's startup).
add_executable(startup_bench ${CMAKE_CURRENT_LIST_DIR}/startup_bench.cpp)
target_link_libraries(startup_bench PRIVATE parplan_warnings)
target_compile_definitions(startup_bench PRIVATE PARPLAN_DEFAULT_BIN="$<TARGET_FILE:parplan>")
add_dependencies(startup_bench parplan)
