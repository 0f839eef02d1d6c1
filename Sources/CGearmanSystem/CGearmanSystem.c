// This target only exports the declarations in include/CGearmanSystem.h.
