"""The catalog's PostgreSQL: Aurora Serverless v2 in a VPC without a NAT gateway, or a given one.

The functions reach AWS services from the VPC's isolated subnets through VPC endpoints: gateway
endpoints (free) for S3 and DynamoDB, interface endpoints for SQS, EventBridge and SNS (and
Rekognition when the recipe uses it). No NAT gateway, no internet route. The database URL is
put together by CloudFormation from the secret (dynamic references), so no password sits in the
template and the functions need no Secrets Manager call at start.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from darkroom_cdk.stages import Options

DATABASE_NAME = "darkroom"
USERNAME = "darkroom"
ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_16_11  # pgvector 0.8; pauses at 0 ACU (16.3+)
# Everything a URL's userinfo would have to escape: the generated password stays URL-safe.
URL_UNSAFE = " %+~`#$&*()|[]{}:;<>?!'/@\"\\^=,"


@dataclass(frozen=True)
class Database:
    url: str  # postgresql://... with CloudFormation dynamic references for the credentials
    secret: secretsmanager.ISecret
    vpc: ec2.Vpc | None
    cluster: rds.DatabaseCluster | None

    def allow_from(self, peer: ec2.IConnectable) -> None:
        if self.cluster is not None:
            self.cluster.connections.allow_default_port_from(peer, "darkroom functions")


def url_from_secret(secret: secretsmanager.ISecret, host: str, port: str, name: str) -> str:
    user = secret.secret_value_from_json("username").unsafe_unwrap()
    password = secret.secret_value_from_json("password").unsafe_unwrap()
    return f"postgresql://{user}:{password}@{host}:{port}/{name}"


def build_database(scope: Construct, options: Options, interface_services: list[str]) -> Database:
    if options.database == "external":
        assert options.database_secret_arn is not None  # checked with the context
        secret = secretsmanager.Secret.from_secret_complete_arn(
            scope, "ExternalDatabaseSecret", options.database_secret_arn
        )
        host = secret.secret_value_from_json("host").unsafe_unwrap()
        port = secret.secret_value_from_json("port").unsafe_unwrap()
        name = secret.secret_value_from_json("dbname").unsafe_unwrap()
        return Database(url_from_secret(secret, host, port, name), secret, None, None)
    stage = options.stage
    vpc = build_vpc(scope, options, interface_services)
    public = options.db_public_cidr is not None
    cluster = rds.DatabaseCluster(
        scope,
        "Database",
        engine=rds.DatabaseClusterEngine.aurora_postgres(version=ENGINE_VERSION),
        writer=rds.ClusterInstance.serverless_v2("Writer", publicly_accessible=public),
        serverless_v2_min_capacity=stage.db_min_acu,
        serverless_v2_max_capacity=stage.db_max_acu,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PUBLIC if public else ec2.SubnetType.PRIVATE_ISOLATED
        ),
        credentials=rds.Credentials.from_generated_secret(
            USERNAME, secret_name=f"{options.name}/database", exclude_characters=URL_UNSAFE
        ),
        default_database_name=DATABASE_NAME,
        storage_encrypted=True,
        backup=rds.BackupProps(retention=Duration.days(stage.db_backup_days)),
        deletion_protection=stage.retain_data,
        removal_policy=RemovalPolicy.SNAPSHOT if stage.retain_data else RemovalPolicy.DESTROY,
    )
    if options.db_public_cidr is not None:
        cluster.connections.allow_default_port_from(
            ec2.Peer.ipv4(options.db_public_cidr), "operator tools (context db_public_cidr)"
        )
    assert cluster.secret is not None  # generated above
    url = url_from_secret(
        cluster.secret,
        cluster.cluster_endpoint.hostname,
        str(cluster.cluster_endpoint.port),
        DATABASE_NAME,
    )
    return Database(url, cluster.secret, vpc, cluster)


def build_vpc(scope: Construct, options: Options, interface_services: list[str]) -> ec2.Vpc:
    subnets = [
        ec2.SubnetConfiguration(
            name="functions", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
        )
    ]
    if options.db_public_cidr is not None:
        # Public subnets cost nothing (no NAT): only for a database operators reach directly.
        subnets.append(
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
        )
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        vpc_name=options.name,
        max_azs=2,  # Aurora's subnet group needs two availability zones
        nat_gateways=0,
        subnet_configuration=subnets,
        gateway_endpoints={
            "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            "DynamoDB": ec2.GatewayVpcEndpointOptions(
                service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
            ),
        },
    )
    isolated = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnets
    endpoint_subnets = ec2.SubnetSelection(subnets=isolated[: options.stage.endpoint_azs])
    for service in interface_services:
        vpc.add_interface_endpoint(
            f"{service.title()}Endpoint",
            service=ec2.InterfaceVpcEndpointAwsService(service),
            subnets=endpoint_subnets,
            private_dns_enabled=True,
        )
    return vpc
