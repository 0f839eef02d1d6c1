#include <stdio.h>
#include <readline/readline.h>
#include <readline/history.h>

// readline is configured through globals that Swift 6 treats as unsafe shared state; these
// accessors set and read them from the one thread that runs the shell.
static inline void cgs_rl_configure(const char *name, rl_completion_func_t *completer) {
    rl_readline_name = name;
    rl_attempted_completion_function = completer;
}

/// Stops readline from falling back to file name completion after our completer ran.
static inline void cgs_rl_disable_default_completion(void) {
    rl_attempted_completion_over = 1;
}

static inline const char *cgs_rl_line_buffer(void) {
    return rl_line_buffer;
}
