add_executable(sweep_bench ${CMAKE_CURRENT_LIST_DIR}/sweep_bench.cpp)
target_link_libraries(sweep_bench PRIVATE parplan_planner parplan_warnings)
