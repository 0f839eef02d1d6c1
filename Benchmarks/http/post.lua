-- wrk script for the HTTP benchmarks: POSTs a 64-byte body with a distinct X-Gearman-Unique on
-- every request, so that neither server coalesces jobs (the C gearmand coalesces equal
-- workloads when no unique key is given). `wrk ... -s post.lua URL -- bg` submits background
-- jobs instead of foreground ones.
--
-- The request is formatted once, around a placeholder for the unique key, and each request
-- only joins three strings. wrk shares the machine's cores with the servers, so it should
-- spend as little CPU per request as it can.
local threads = {}

function setup(thread)
    thread:set("id", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    local headers = { ["X-Gearman-Unique"] = "\0unique\0" }
    if args[1] == "bg" then
        headers["X-Gearman-Background"] = "true"
    end
    local template = wrk.format("POST", nil, headers, string.rep("x", 64))
    local at = string.find(template, "\0unique\0", 1, true)
    head = string.sub(template, 1, at - 1) .. tostring(id) .. "-"
    tail = string.sub(template, at + string.len("\0unique\0"))
    counter = 0
end

function request()
    counter = counter + 1
    return head .. counter .. tail
end
