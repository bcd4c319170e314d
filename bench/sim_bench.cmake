# sim_bench: wall time, peak memory and events/s of simulating one gpt3-175b step (sim/).
if(TARGET parplan_sim)
  add_executable(sim_bench "${CMAKE_CURRENT_LIST_DIR}/sim_bench.cpp")
  target_link_libraries(sim_bench PRIVATE parplan_sim parplan_warnings)
endif()
