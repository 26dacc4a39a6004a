# mies_fuzz_entries: the fuzz entry points (fuzz/entries/), shared by the libFuzzer driver
# (fuzz/CMakeLists.txt, clang) and the regression replay test (tests/fuzz/, any compiler).
if(NOT TARGET mies_fuzz_entries)
  set(_dir ${PROJECT_SOURCE_DIR}/fuzz/entries)
  add_library(mies_fuzz_entries STATIC
    ${_dir}/registry.cc ${_dir}/support.cc ${_dir}/config_entries.cc ${_dir}/model_entries.cc
    ${_dir}/tokenizer_entries.cc ${_dir}/jinja_entries.cc ${_dir}/http_entries.cc
    ${_dir}/cluster_entries.cc)
  target_include_directories(mies_fuzz_entries PUBLIC ${PROJECT_SOURCE_DIR}/fuzz)
  target_compile_definitions(mies_fuzz_entries PRIVATE MIES_SHARED_DIR="${MIES_SHARED_DIR}")
  target_link_libraries(mies_fuzz_entries PUBLIC
    mies_config mies_model mies_tokenizer mies_jinja mies_server_api mies_engine mies_runner
    mies_cluster mies_common)
endif()
