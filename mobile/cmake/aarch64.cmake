# Cross-compiling the runtime for 64-bit ARM Linux with Debian's toolchain
# (apt-get install g++-aarch64-linux-gnu). Run the result under qemu-aarch64 (qemu-user):
#   qemu-aarch64 -L /usr/aarch64-linux-gnu ./unified-run model.ufb --verify
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Eigen is header-only: its CMake package may come from the build machine (cmeel-eigen)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
