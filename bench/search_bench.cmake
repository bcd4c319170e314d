# search_bench: layout-search speed on the three reference cases (planner/README.md).
add_executable(search_bench ${CMAKE_CURRENT_LIST_DIR}/search_bench.cpp)
target_link_libraries(search_bench PRIVATE parplan_planner parplan_warnings)
