#!/usr/bin/perl
# A client written with Perl's Gearman::Client (Debian libgearman-client-perl), for the interop
# tests.
#
#   perl client.pl HOST:PORT MODE FUNCTION WORKLOAD
#
# MODE is normal, high or low for a foreground job, whose result it prints, or background,
# high-background or low-background, which print the job handle. Exit status 3 means the job
# failed; 1 is any other error. Jobs time out after 10 seconds.
use strict;
use warnings;
use Gearman::Client;

die "Usage: perl client.pl HOST:PORT MODE FUNCTION WORKLOAD\n" unless @ARGV == 4;
my ($server, $mode, $function, $workload) = @ARGV;
my ($priority, $background) = $mode =~ /^(normal|high|low)$/ ? ($1, 0)
  : $mode eq 'background'                                  ? ('normal', 1)
  : $mode =~ /^(high|low)-background$/                     ? ($1, 1)
  :   die "client.pl: invalid mode '$mode': expected normal, high, low or *-background\n";

my $client = Gearman::Client->new(job_servers => [$server]);
if ($background) {
    my $handle = $client->dispatch_background($function, \$workload, { priority => $priority });
    die "client.pl: background submission of $function failed\n" unless defined $handle;
    print $handle;
    exit 0;
}
my $result = $client->do_task($function, \$workload, { priority => $priority, timeout => 10 });
unless (defined $result) {
    print STDERR "client.pl: job failed\n";
    exit 3;
}
print $$result;
