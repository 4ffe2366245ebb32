// OutputFormat: how an ftctl command prints its result: a human table, or JSON for scripts (`-o json`).
#pragma once

namespace ftd {

enum class OutputFormat { kTable, kJson };

}  // namespace ftd
