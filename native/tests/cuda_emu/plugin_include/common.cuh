/*
 * plugin_include/common.cuh: the emulated plug-in's common.cuh is the emulator's (shadow/common.cuh). This directory
 * comes first on the plug-in's include path instead of shadow/, so that the plug-in gets the real context.cuh (the
 * one context.cu implements) from native/src/cuda rather than the shadow one of cuda_emulation_test.
 */
#include "../shadow/common.cuh"
