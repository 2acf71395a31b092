package Qpsmtpd::Plugin;
# A stand-in of qpsmtpd 0.94's Qpsmtpd::Plugin for t/400-plugin.t: the methods
# a plugin calls, with 0.94's code for log() and registration.
use strict;
use warnings;
use Qpsmtpd::Constants;

sub new { my $proto = shift; bless({}, ref($proto) || $proto) }
sub hook_name  { shift->{_hook} }
sub qp         { shift->{_qp} }
sub connection { shift->qp->connection }

sub log {
    my $self = shift;
    return if defined $self->{_hook} && $self->{_hook} eq 'logging';
    my $level = shift;    # (no _args{loglevel} adjustment: neither logterse nor qpstat use _args)
    $self->{_qp}->varlog($level, $self->{_hook}, $self->plugin_name, @_);
}

sub _register {
    my $self = shift;
    my $qp   = shift;
    local $self->{_qp} = $qp;
    $self->init($qp, @_) if $self->can('init');
    $self->register($qp, @_) if $self->can('register');
}

# Plugin::compile of 0.94: the file becomes package Qpsmtpd::Plugin::NAME.
sub compile {
    my ($class, $plugin, $package, $file) = @_;
    open my $fh, '<', $file or die "could not open $file: $!";
    my $sub = do { local $/; <$fh> };
    my $eval = join("\n",
        "package $package;", 'use Qpsmtpd::Constants;', 'require Qpsmtpd::Plugin;', 'use vars qw(@ISA);',
        'use strict;', '@ISA = qw(Qpsmtpd::Plugin);', "sub plugin_name { qq[$plugin] }",
        "\n#line 0 $file\n", $sub, "\n");
    eval $eval;
    die "eval $@" if $@;
}

1;
